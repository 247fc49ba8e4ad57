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
    "one-hot map": "The release's name for its two label maps (Task001, Task002). They are not "
    "one-hot in the machine-learning sense (one channel per class): each is a single integer "
    "label map, one value per voxel (0 background, 1..54 or 1..2).",
    "IAC": "Internal auditory canal (IAC_L/R): the bony canal carrying the hearing and balance "
    "nerves from the inner ear to the brain stem.",
    "VestibulSemi": "The vestibule and semicircular canals (VestibulSemi_L/R): the balance organ "
    "of the inner ear, beside the cochlea in the petrous bone.",
    "ETbone": "The bony part of the Eustachian tube (ETbone_L/R), which joins the middle ear to "
    "the nasopharynx.",
    "TMjoint": "Temporomandibular joint (TMjoint_L/R): where the mandible hinges on the skull; "
    "dose there can stiffen the jaw (trismus).",
    "PharynxConst": "Pharyngeal constrictor muscles: the muscle sleeve of the throat that "
    "squeezes food down when swallowing.",
}

#: The clinical why: organ(s), what too much dose can cost the patient, a dose guide from the
#: QUANTEC-era literature (conventional 1.8-2 Gy fractions), and the source of that guide.
CLINICAL_WHY: tuple[tuple[str, str, str, str], ...] = (
    (
        "Lens_L/R",
        "cataract",
        "threshold about 0.5 Gy",
        "ICRP Publication 118, Ann. ICRP 41(1/2) (2012)",
    ),
    (
        "OpticNerve_L/R, Chiasm",
        "optic neuropathy: vision loss, blindness",
        "rare below a maximum dose of 55 Gy",
        "Mayo C. et al., Int. J. Radiat. Oncol. Biol. Phys. 76(3 Suppl), S28-S35 (2010)",
    ),
    (
        "BrainStem",
        "brain-stem necrosis, cranial-nerve deficits",
        "whole brain stem below 54 Gy",
        "Mayo C. et al., Int. J. Radiat. Oncol. Biol. Phys. 76(3 Suppl), S36-S41 (2010)",
    ),
    (
        "SpinalCord",
        "myelopathy: weakness or paralysis below the level",
        "about 0.2 % risk at 50 Gy",
        "Kirkpatrick J. P. et al., Int. J. Radiat. Oncol. Biol. Phys. 76(3 Suppl), S42-S49 (2010)",
    ),
    (
        "Cochlea_L/R",
        "sensorineural hearing loss",
        "mean dose at most 45 Gy (35 Gy to be cautious)",
        "Bhandare N. et al., Int. J. Radiat. Oncol. Biol. Phys. 76(3 Suppl), S50-S57 (2010)",
    ),
    (
        "Parotid_L/R",
        "xerostomia (dry mouth): speech, swallowing, teeth",
        "mean below 20 Gy in one gland or 25 Gy in both",
        "Deasy J. O. et al., Int. J. Radiat. Oncol. Biol. Phys. 76(3 Suppl), S58-S63 (2010)",
    ),
)


def _cell(text: str) -> str:
    """A Markdown table cell: a ``|`` in the text (as in |P∩G|) is escaped, not a column break."""
    return text.replace("|", "\\|")


def clinical_markdown() -> str:
    """The clinical why as a Markdown table: organ, what too much dose costs, guide, source."""
    lines = ["| organ | what too much dose can cost | dose guide | source |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in CLINICAL_WHY]
    return "\n".join(lines)


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
    (
        "Marks L. B. et al., Use of normal tissue complication probability models in the clinic, "
        "Int. J. Radiat. Oncol. Biol. Phys. 76(3 Suppl), S10-S19 (2010)",
        "QUANTEC: the dose limits of the organs at risk, organ by organ, and why they are uncertain",
    ),
)


def glossary_markdown() -> str:
    """The glossary and the further reading as Markdown (for ``IPython.display.Markdown``)."""
    lines = ["| term | meaning |", "|---|---|"]
    lines += [f"| **{_cell(term)}** | {_cell(text)} |" for term, text in GLOSSARY.items()]
    lines += ["", "**Further reading**", ""]
    lines += [f"- {ref}: {why}." for ref, why in FURTHER_READING]
    return "\n".join(lines)
