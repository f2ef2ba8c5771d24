"""NTU RGB+D 60/120: the raw `.skeleton` reader, the prepare tool and the layouts on disk.

Every layout opens as clips (N,3,T,25,M) float32, memory-mapped, never read whole.

    skeleton_text.py  parse one .skeleton text file -> bodies and (K,25,3) joints
    clip.py           the 2 most active bodies of a file -> one clip (L,2,25,3)
    splits.py         sample names SsssCcccPpppRrrrAaaa, the xsub / xview / xset splits
    missing.py        the official list of samples with missing skeletons
    shards.py         restartable parsing: parsed files kept in shards under <out>/.partial
    prepare.py        python -m cpstn_min.data.ntu.prepare: raw files -> prepared arrays
    layouts.py        readers: prepared, ST-GCN/AimCLR, CTR-GCN
    pyskl.py          reader: pyskl/mmaction2 annotation pickles (converted once into the cache)
    dataset.py        ntu_dataset(cfg, train): detects the layout under cfg.data_root and opens it
"""
