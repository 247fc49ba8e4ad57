"""Pictures: colours, slice rendering, figures, the interactive viewer, 3D surfaces, itkwidgets."""
