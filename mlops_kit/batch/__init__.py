"""Batch scoring: the Production model over a file of transactions, with the same features and transformations as
the endpoint.

``mlops batch`` (or the ``batch.schedule`` in config) invokes the ``batch_start`` Lambda
(:mod:`mlops_kit.batch.start`), which resolves the model version and starts a SageMaker Processing job running
``sagemaker_jobs/batch_score.py`` (:mod:`mlops_kit.batch.score`). The job reads the input, joins each row's features
point-in-time from the offline store as of the row's timestamp, scores the rows through the inference script's own
``model_fn`` and ``model_inputs``, and writes the predictions (joined back to the input's ids) with a lineage file.
Nothing here imports pandas or numpy at module top level (the start Lambda loads none).
"""
