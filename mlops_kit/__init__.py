"""mlops_kit: the domain library of the serverless MLOps kit."""
