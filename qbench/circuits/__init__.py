"""The bottom layer: canonical circuits, where noise goes, and the exact references every
backend is checked against. Imports nothing else of qbench."""
