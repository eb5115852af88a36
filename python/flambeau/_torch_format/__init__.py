"""PyTorch's checkpoint formats: writer.py (flambeau.save), reader.py and legacy.py (flambeau.load),
pickler.py / unpickler.py (data.pkl both ways), dtypes.py (element types)."""
