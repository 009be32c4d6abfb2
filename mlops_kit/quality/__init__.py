"""Model quality on ground truth: late labels joined with captured predictions, scored per window and variant.

Input drift says the world moved; only labels say the model got worse. What runs when (``cdk/constructs/
model_quality.py`` deploys it):

1. Labels arrive late as files under ``s3://<data>/<quality.labels_prefix>/`` (:mod:`~mlops_kit.quality.labels`).
2. An EventBridge Scheduler schedule (``quality.schedule``) invokes ``lambdas/quality_run``: it joins the labels
   with the predictions captured in the window ending ``quality.label_delay_hours`` ago
   (:mod:`~mlops_kit.quality.join`), scores each variant and the Production version
   (:mod:`~mlops_kit.quality.metrics`), writes the window's report and publishes the metrics
   (:mod:`~mlops_kit.quality.job`).
3. The ``<endpoint>-quality-drop`` alarm goes to ALARM when the primary metric fell more than ``quality.max_drop``
   below its evaluation-time figure on a window of at least ``quality.min_samples`` labels, and (with
   ``quality.retrain_on_drop``) starts retraining through drift's retrain function and cooldown.

Standard library only at module level, like :mod:`mlops_kit.monitoring`: the function's layer has no numpy.
"""
