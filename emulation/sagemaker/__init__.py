"""Amazon SageMaker notebook instances: AWS's state machine on moto's models, with lifecycle
hooks run in a sandbox or the notebook-instance container (``notebook_host.NotebookHost``)."""
