"""The contract between training and serving: what a model's files mean.

``model/`` writes it (manifests, graphs with these tensor names) and ``service/`` reads it;
both import this package and neither imports the other. NumPy and pydantic only.
"""
