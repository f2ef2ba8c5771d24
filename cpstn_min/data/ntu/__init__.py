"""NTU RGB+D 60/120: the raw `.skeleton` reader, the prepare tool and the layouts on disk."""
