"""Reading and writing the release: files or zip members, NIfTI, dataset discovery, nnU-Net export."""
