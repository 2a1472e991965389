"""Datasets: synthetic VOC / Cityscapes in the real layouts (synth.py). Imports nothing heavy."""
