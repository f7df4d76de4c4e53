"""The static site: ``python -m tools.site.build`` (`make html`) runs the notebooks and renders them
with Sphinx (settings in ``sphinx/``, the index from ``templates/``)."""
