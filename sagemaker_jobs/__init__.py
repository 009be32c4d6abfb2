"""SageMaker job scripts: each `<step>.py` is a program (`main(argv)`, `/opt/ml/...` defaults) with pure functions.

They run unchanged in SageMaker containers and in the local emulator, which maps `/opt/ml` to a temporary
folder through ``MLOPS_OPT_ML``. Processing jobs start through `launch.py`; training and inference use the
sklearn container's script mode (`train.py` and `inference.py` at the root of the code bundle).
"""
