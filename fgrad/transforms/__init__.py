"""Program-to-program transformations: jvp, partial_eval, linearize, transpose, batch, simplify.

Import the transforms from their modules (`fgrad.transforms.jvp`, ...). This package imports
none of them itself: `fgrad.lax` registers its rules into `fgrad.transforms.rules` while the
transforms use `fgrad.lax`, so loading a transform here would make the two import each other.
"""
