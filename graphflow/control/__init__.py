"""ControlNets and T2I-Adapters: loading them offline, the Control values conditioning carries, their residuals.

`model.py` is the loaded CONTROL_NET value, `detect.py`/`convert.py`/`loader.py` read files into it,
`control.py` attaches it to conditioning, `residuals.py` turns it into the UNet's extra inputs while
sampling, and `preprocess.py` makes hint pictures from images with plain image maths.
"""
