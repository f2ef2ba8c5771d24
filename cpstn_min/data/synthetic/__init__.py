"""The synthetic NTU-25-joint dataset: the embedded default and the test bed, generated from a seed.

26 action classes (21 one-person, 5 two-person) performed by 40 performers of varied
body proportions and style, filmed by a Kinect-like camera at a random yaw, with
Kinect-like noise and dropouts; clips (N,3,300,25,2) float32, 40..300 valid frames at
30 fps, centred like prepared NTU data. Splits "xsub" and "xview" as in NTU RGB+D 60.

    body.py       kinematic skeleton: bone lengths, rest pose, forward kinematics (n,T,25,3)
    camera.py     the camera: performer frame -> camera space, tracking noise, dropouts
    motions.py    the action classes, animating the pose channels of body.py
    splits.py     performers and camera yaws of xsub / xview
    generator.py  generate(seed, split, train, n, out): fills the clip array, returns labels etc.
    dataset.py    synthetic_dataset(cfg, train): generated once, cached, memory-mapped
    baselines.py  raw-joint baselines (nearest centroid, logistic regression)
    __main__.py   python -m cpstn_min.data.synthetic: classes, timing and baselines
"""
