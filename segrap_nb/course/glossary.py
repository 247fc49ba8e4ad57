"""The course's glossary and further reading, shown by the index notebook (one place for both)."""

from __future__ import annotations

#: Term -> one-paragraph definition, in the order a student meets them.
GLOSSARY: dict[str, str] = {
    "OAR": "Organ at risk: a healthy structure the radiotherapy plan must spare (brain stem, "
    "optic nerves, parotid glands...). SegRap Task 1 asks for 45 of them.",
    "GTV": "Gross tumour volume: the visible tumour. SegRap Task 2 has two: GTVp, the primary "
    "tumour in the nasopharynx, and GTVnd, the involved lymph nodes.",
    "HU": "Hounsfield unit: the CT's calibrated attenuation, water 0 HU, air -1000 HU, fat about "
    "-100, soft tissue +20 to +80, bone +400 and more. The files store it as int16.",
    "window": "Window width W and level L: the range of HU shown as grey (L - W/2 black, "
    "L + W/2 white). Brain (80/40), soft tissue (400/40), bone (1800/400), lung (1500/-600).",
    "RAS / LPS": "Two world frames. NIfTI's RAS+: x grows towards the patient's Right, y Anterior, "
    "z Superior. DICOM's LPS: x towards the Left, y Posterior. An axis code such as "
    "('L', 'P', 'S') says where each array axis points; read it from the affine.",
    "DSC": "Dice similarity coefficient, 2|P∩G| / (|P| + |G|): volume overlap of prediction P "
    "and ground truth G, 0 to 1. One of the two ranking metrics of SegRap.",
    "NSD": "Normalised surface Dice at tolerance τ (1 mm for most SegRap structures): the share of "
    "both surfaces lying within τ of the other. The second ranking metric.",
    "HD95": "95th percentile Hausdorff distance (mm): the boundary distance that 95 % of both "
    "surfaces stay within. Not ranked in SegRap; the kit reports it as an extra.",
}

#: (reference, why to read it).
FURTHER_READING: tuple[tuple[str, str], ...] = (
    (
        "Luo X. et al., SegRap2023: A Benchmark of Organs-at-Risk and Gross Tumor Volume "
        "Segmentation for Radiotherapy Planning of Nasopharyngeal Carcinoma, arXiv:2312.09576 (2023)",
        "the challenge, its data, rules and results",
    ),
    (
        "Isensee F. et al., nnU-Net: a self-configuring method for deep learning-based biomedical "
        "image segmentation, Nature Methods 18, 203-211 (2021)",
        "the baseline of the challenge and the method to try after notebook 04",
    ),
    (
        "Nikolov S. et al., Clinically applicable segmentation of head and neck anatomy for "
        "radiotherapy: deep learning algorithm development and validation study, J. Med. Internet "
        "Res. 23(7):e26151 (2021)",
        "where the normalised surface Dice (NSD) comes from",
    ),
    (
        "Brouwer C. L. et al., CT-based delineation of organs at risk in the head and neck region: "
        "DAHANCA, EORTC, GORTEC, HKNPCSG, NCIC CTG, NCRI, NRG Oncology and TROG consensus "
        "guidelines, Radiotherapy and Oncology 117(1), 83-90 (2015)",
        "how clinicians draw the OARs the labels follow",
    ),
)


def glossary_markdown() -> str:
    """The glossary and the further reading as Markdown (for ``IPython.display.Markdown``)."""
    lines = ["| term | meaning |", "|---|---|"]
    lines += [f"| **{term}** | {text} |" for term, text in GLOSSARY.items()]
    lines += ["", "**Further reading**", ""]
    lines += [f"- {ref}: {why}." for ref, why in FURTHER_READING]
    return "\n".join(lines)
