"""Training a model: ``loop`` (the Trainer, ``train``, ``add_styles``), how a run starts (``start``), its step
schedule (``schedule``), what it reports (``report``, ``board``), its data (``data``, ``batches``), its processes
(``distributed``), and add-style's quick mode (``quick_style``). Nothing is imported here, so that a module of the
package costs only what it needs."""
