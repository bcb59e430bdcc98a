"""Contract suites that every implementation of a port must pass.

One module per port: ``test_sequencer.py`` (Sequencer, durable ones too),
``test_history_store.py`` (HistoryStore, durable ones too),
``test_directory.py`` (Directory) and ``test_bus.py`` (Bus).
"""
