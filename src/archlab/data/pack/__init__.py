"""Packs: patches in BigEarthNet's authors' LMDB + safetensors format, written once and read fast.

* :mod:`~archlab.data.pack.store` — the pack on disk (the one module that names its files);
* :mod:`~archlab.data.pack.records` — one record, written by ``safetensors`` and read as views;
* :mod:`~archlab.data.pack.samples` — patches read one at a time or a batch at native resolution;
* :mod:`~archlab.data.pack.datasets` — BigEarthNet v1/v2 and EuroSAT MS datasets read from a pack;
* :mod:`~archlab.data.pack.build` — ``archlab data pack``: a GeoTIFF archive (or a subset) into a pack.
"""
