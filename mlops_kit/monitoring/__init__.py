"""Drift monitoring on AWS: the scheduled job, its metrics and alarms, and retraining on drift.

What runs when (the monitoring stack deploys it; :mod:`mlops_kit.drift` holds the statistics):

1. An EventBridge Scheduler schedule (``drift.schedule``) invokes the ``drift_start`` Lambda. It finds the
   Production model version in the registry and its drift baseline (``drift.baseline_uri``), the window
   (the last ``drift.window_hours``, never before that version took all traffic) and the capture data in it,
   and starts a SageMaker Processing job (:mod:`mlops_kit.monitoring.start`).
2. The job (``sagemaker_jobs/drift.py``, over :mod:`mlops_kit.monitoring.job`) reads the window's capture
   files, rebuilds the model's inputs for every served request (:mod:`mlops_kit.monitoring.served`), compares
   them and the predictions with the baseline, and writes Model Monitor's files, the kit's report JSON and the
   HTML report under ``s3://<artifacts>/drift/<endpoint>/reports/<job>/``.
3. Its "SageMaker Processing Job State Change" event invokes ``drift_publish``, which puts PSI per feature and
   for the prediction into CloudWatch (:mod:`mlops_kit.monitoring.publish`); one alarm per feature (threshold
   ``drift.psi_act``) exists from deploy time.
4. A drift alarm going to ALARM invokes ``drift_retrain``, which starts the training pipeline unless a run is in
   flight or one was started within ``drift.retrain_cooldown_hours`` (:mod:`mlops_kit.monitoring.retrain`).

Modules used by the Lambda functions import nothing beyond the standard library at module level (the
functions' layer has no numpy or pandas); the job's modules need the scientific stack.
"""
