"""In-memory fakes of the AWS calls the promotion steps make: small enough to read, strict where AWS is strict.

Each fake implements only the operations and parameters the kit uses, with AWS's behaviour where the kit
depends on it (duplicate names refused, busy endpoints refused, an update that removes an autoscaled variant
refused, a failed update ending InService on the old config, GetMetricData periods in multiples of 60). An
unknown expression or parameter fails loudly rather than being ignored, so a fake never silently agrees with
code it does not understand. Errors are botocore ``ClientError``s with AWS's codes.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from botocore.exceptions import ClientError as _ClientError  # the base class, unshadowed in _Exceptions

ACCOUNT, REGION = "123456789012", "us-east-1"
BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


def client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class _Exceptions:
    """``client.exceptions``: what the kit catches."""

    ClientError: type[ClientError] = ClientError

    class ConditionalCheckFailedException(_ClientError):  # noqa: N818  (boto3's name)
        def __init__(self, operation: str) -> None:
            super().__init__(
                {"Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}},
                operation,
            )


class FakeClock:
    """Seconds since the epoch; moves only when a test says so."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- SageMaker -----------------------------------------------------------------------------------------------
@dataclass
class FakeEndpoint:
    name: str
    config: str
    status: str
    variants: list[dict[str, Any]]  # DescribeEndpoint's ProductionVariants (CurrentWeight, CurrentInstanceCount)
    shadows: list[dict[str, Any]] = field(default_factory=list)
    pending: dict[str, Any] | None = None  # the update in flight: config, retain, deployment config, weights
    failure_reason: str | None = None


class FakeSageMaker:
    """Model packages, models, endpoint configs and endpoints.

    Updates do not finish by themselves: :meth:`settle` finishes the one in flight (as SageMaker would, minutes
    later); :meth:`fail_next_update` makes the next one fail the way SageMaker reports it (InService, the old
    config, a ``FailureReason``).
    """

    exceptions = _Exceptions

    def __init__(self, autoscaling: FakeAutoscaling | None = None) -> None:
        self.packages: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, FakeEndpoint] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.autoscaling = autoscaling
        self._fail_next: str | None = None

    def _call(self, operation: str, request: dict[str, Any]) -> None:
        self.calls.append((operation, copy.deepcopy(request)))

    def requests(self, operation: str) -> list[dict[str, Any]]:
        return [request for name, request in self.calls if name == operation]

    # model packages (what ModelRegistry uses) ----------------------------------------------------------
    def add_package(self, group: str, version: int, **fields: Any) -> str:
        arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/{version}"
        self.packages[arn] = {
            "ModelPackageArn": arn,
            "ModelPackageGroupName": group,
            "ModelPackageVersion": version,
            "ModelApprovalStatus": "PendingManualApproval",
            "CreationTime": dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=version),
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3",
                        "ModelDataUrl": f"s3://artifacts/models/v{version}/model.tar.gz",
                        "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
                    }
                ]
            },
            "CustomerMetadataProperties": {},
            "ModelLifeCycle": {"Stage": "Staging", "StageStatus": "PendingApproval"},
            **fields,
        }
        return arn

    def describe_model_package(self, ModelPackageName: str) -> dict[str, Any]:
        if ModelPackageName not in self.packages:
            raise client_error("ValidationException", "Model package not found", "DescribeModelPackage")
        return copy.deepcopy(self.packages[ModelPackageName])

    def list_model_packages(self, ModelPackageGroupName: str, MaxResults: int = 100, NextToken: str = "") -> Any:
        arns = [a for a, p in self.packages.items() if p["ModelPackageGroupName"] == ModelPackageGroupName]
        start = int(NextToken or 0)
        page = arns[start : start + MaxResults]
        result: dict[str, Any] = {"ModelPackageSummaryList": [{"ModelPackageArn": a} for a in page]}
        if start + MaxResults < len(arns):
            result["NextToken"] = str(start + MaxResults)
        return result

    def update_model_package(self, ModelPackageArn: str, **changes: Any) -> dict[str, Any]:
        package = self.packages[ModelPackageArn]
        for key, value in changes.items():
            if key == "CustomerMetadataProperties":  # merged, as UpdateModelPackage does
                package[key] = {**package.get(key, {}), **value}
            else:
                package[key] = value
        return {"ModelPackageArn": ModelPackageArn}

    # models and endpoint configs -----------------------------------------------------------------------
    def create_model(self, **request: Any) -> dict[str, Any]:
        self._call("CreateModel", request)
        name = request["ModelName"]
        if name in self.models:
            raise client_error("ValidationException", f'Cannot create already existing model "{name}".', "CreateModel")
        self.models[name] = request
        return {"ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{name.lower()}"}

    def describe_model(self, ModelName: str) -> dict[str, Any]:
        if ModelName not in self.models:
            raise client_error("ValidationException", f'Could not find model "{ModelName}".', "DescribeModel")
        return copy.deepcopy(self.models[ModelName])

    def list_models(self, NameContains: str = "", **_: Any) -> dict[str, Any]:
        return {"Models": [{"ModelName": n} for n in self.models if NameContains in n]}

    def create_endpoint_config(self, **request: Any) -> dict[str, Any]:
        self._call("CreateEndpointConfig", request)
        name = request["EndpointConfigName"]
        if name in self.configs:
            raise client_error(
                "ValidationException", f'Cannot create already existing endpoint configuration "{name}".',
                "CreateEndpointConfig",
            )  # fmt: skip
        for entry in request["ProductionVariants"] + request.get("ShadowProductionVariants", []):
            if entry["ModelName"] not in self.models:
                raise client_error(
                    "ValidationException", f'Could not find model "{entry["ModelName"]}".', "CreateEndpointConfig"
                )
        self.configs[name] = request
        return {"EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{name.lower()}"}

    def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        if EndpointConfigName not in self.configs:
            raise client_error(
                "ValidationException", f'Could not find endpoint configuration "{EndpointConfigName}".',
                "DescribeEndpointConfig",
            )  # fmt: skip
        return copy.deepcopy(self.configs[EndpointConfigName])

    def list_endpoint_configs(self, NameContains: str = "", **_: Any) -> dict[str, Any]:
        return {"EndpointConfigs": [{"EndpointConfigName": n} for n in self.configs if NameContains in n]}

    def delete_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        self._call("DeleteEndpointConfig", {"EndpointConfigName": EndpointConfigName})
        self.configs.pop(EndpointConfigName)
        return {}

    def delete_model(self, ModelName: str) -> dict[str, Any]:
        self._call("DeleteModel", {"ModelName": ModelName})
        self.models.pop(ModelName)
        return {}

    def list_endpoints(self, NameContains: str = "", **_: Any) -> dict[str, Any]:
        return {"Endpoints": [{"EndpointName": n} for n in self.endpoints if NameContains in n]}

    # endpoints -----------------------------------------------------------------------------------------
    def _endpoint(self, name: str, operation: str) -> FakeEndpoint:
        if name not in self.endpoints:
            arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name.lower()}"
            raise client_error("ValidationException", f'Could not find endpoint "{arn}".', operation)
        return self.endpoints[name]

    @staticmethod
    def _variants(config: dict[str, Any], key: str = "ProductionVariants") -> list[dict[str, Any]]:
        return [
            {
                "VariantName": v["VariantName"],
                "CurrentWeight": float(v.get("InitialVariantWeight", 1.0)),
                "DesiredWeight": float(v.get("InitialVariantWeight", 1.0)),
                "CurrentInstanceCount": int(v.get("InitialInstanceCount", 1)),
                "DesiredInstanceCount": int(v.get("InitialInstanceCount", 1)),
            }
            for v in config.get(key, [])
        ]

    def create_endpoint(self, EndpointName: str, EndpointConfigName: str, **_: Any) -> dict[str, Any]:
        self._call("CreateEndpoint", {"EndpointName": EndpointName, "EndpointConfigName": EndpointConfigName})
        if EndpointName in self.endpoints:
            raise client_error("ValidationException", "Cannot create already existing endpoint", "CreateEndpoint")
        config = self.describe_endpoint_config(EndpointConfigName)
        self.endpoints[EndpointName] = FakeEndpoint(
            EndpointName, EndpointConfigName, "Creating", self._variants(config),
            self._variants(config, "ShadowProductionVariants"),
            pending={"config": EndpointConfigName, "create": True},
        )  # fmt: skip
        return {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{EndpointName.lower()}"}

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        endpoint = self._endpoint(EndpointName, "DescribeEndpoint")
        described: dict[str, Any] = {
            "EndpointName": endpoint.name,
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{endpoint.name.lower()}",
            "EndpointConfigName": endpoint.config,
            "EndpointStatus": endpoint.status,
            "ProductionVariants": copy.deepcopy(endpoint.variants),
        }
        if endpoint.shadows:
            described["ShadowProductionVariants"] = copy.deepcopy(endpoint.shadows)
        if endpoint.failure_reason:
            described["FailureReason"] = endpoint.failure_reason
        return described

    def update_endpoint(self, EndpointName: str, EndpointConfigName: str, **options: Any) -> dict[str, Any]:
        self._call("UpdateEndpoint", {"EndpointName": EndpointName, "EndpointConfigName": EndpointConfigName,
                                      **options})  # fmt: skip
        endpoint = self._endpoint(EndpointName, "UpdateEndpoint")
        if endpoint.status in BUSY:
            raise client_error(
                "ValidationException", f"Cannot update in-progress endpoint (status {endpoint.status}).",
                "UpdateEndpoint",
            )  # fmt: skip
        config = self.describe_endpoint_config(EndpointConfigName)
        kept = {v["VariantName"] for v in config["ProductionVariants"]}
        for removed in [v["VariantName"] for v in endpoint.variants if v["VariantName"] not in kept]:
            if self.autoscaling and self.autoscaling.registered(EndpointName, removed):
                raise client_error(
                    "ValidationException",
                    f"The variant {removed} is registered with Application Auto Scaling; deregister it before "
                    "an update that removes it.",
                    "UpdateEndpoint",
                )
        endpoint.status = "Updating"
        endpoint.pending = {"config": EndpointConfigName, **options}
        return {"EndpointArn": self.describe_endpoint(EndpointName)["EndpointArn"]}

    def update_endpoint_weights_and_capacities(
        self, EndpointName: str, DesiredWeightsAndCapacities: list[dict[str, Any]]
    ) -> dict[str, Any]:
        request = {"EndpointName": EndpointName, "DesiredWeightsAndCapacities": DesiredWeightsAndCapacities}
        self._call("UpdateEndpointWeightsAndCapacities", request)
        endpoint = self._endpoint(EndpointName, "UpdateEndpointWeightsAndCapacities")
        if endpoint.status in BUSY:
            raise client_error("ValidationException", "Cannot update in-progress endpoint.", "UpdateEndpointWeights")
        names = {v["VariantName"] for v in endpoint.variants}
        for change in DesiredWeightsAndCapacities:
            if change["VariantName"] not in names:
                raise client_error("ValidationException", f"no variant {change['VariantName']}", "UpdateWeights")
        endpoint.status = "Updating"
        endpoint.pending = {"config": endpoint.config, "weights": DesiredWeightsAndCapacities}
        return {"EndpointArn": self.describe_endpoint(EndpointName)["EndpointArn"]}

    def delete_endpoint(self, EndpointName: str) -> dict[str, Any]:
        self._call("DeleteEndpoint", {"EndpointName": EndpointName})
        self._endpoint(EndpointName, "DeleteEndpoint")
        del self.endpoints[EndpointName]
        return {}

    # test controls -------------------------------------------------------------------------------------
    def serve(self, endpoint: str, config: str) -> None:
        """An endpoint already InService on ``config`` (how a test starts from a serving Production model)."""
        self.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
        self.settle(endpoint)
        self.calls.clear()

    def fail_next_update(self, reason: str) -> None:
        self._fail_next = reason

    def settle(self, name: str) -> None:
        """Finish the update in flight: the new config (variant properties retained if asked), or, after
        :meth:`fail_next_update`, InService on the old config with the ``FailureReason``."""
        endpoint = self.endpoints[name]
        pending, endpoint.pending = endpoint.pending, None
        if pending is None:
            return
        if self._fail_next is not None:
            endpoint.status, endpoint.failure_reason, self._fail_next = "InService", self._fail_next, None
            return
        if "weights" in pending:
            for change in pending["weights"]:
                for entry in endpoint.variants:
                    if entry["VariantName"] == change["VariantName"]:
                        entry["CurrentWeight"] = entry["DesiredWeight"] = float(change["DesiredWeight"])
        else:
            config = self.configs[pending["config"]]
            old = {v["VariantName"]: v for v in endpoint.variants}
            new = self._variants(config)
            if pending.get("RetainAllVariantProperties"):
                new = [old.get(v["VariantName"], v) for v in new]
            endpoint.variants, endpoint.shadows = new, self._variants(config, "ShadowProductionVariants")
            endpoint.config = pending["config"]
        endpoint.status, endpoint.failure_reason = "InService", None

    def scale(self, endpoint: str, variant: str, instances: int) -> None:
        """What autoscaling does under load: the variant runs ``instances`` instances."""
        for entry in self.endpoints[endpoint].variants:
            if entry["VariantName"] == variant:
                entry["CurrentInstanceCount"] = entry["DesiredInstanceCount"] = instances


# -- Application Auto Scaling ---------------------------------------------------------------------------------
class FakeAutoscaling:
    exceptions = _Exceptions

    def __init__(self) -> None:
        self.targets: dict[str, dict[str, Any]] = {}
        self.policies: dict[tuple[str, str], dict[str, Any]] = {}

    def registered(self, endpoint: str, variant: str) -> bool:
        return f"endpoint/{endpoint}/variant/{variant}" in self.targets

    def register_scalable_target(self, **request: Any) -> dict[str, Any]:
        self.targets[request["ResourceId"]] = request
        return {}

    def put_scaling_policy(self, **request: Any) -> dict[str, Any]:
        if request["ResourceId"] not in self.targets:
            raise client_error("ObjectNotFoundException", "No scalable target registered", "PutScalingPolicy")
        self.policies[(request["ResourceId"], request["PolicyName"])] = request
        return {"PolicyARN": f"policy/{request['PolicyName']}"}

    def describe_scalable_targets(self, ServiceNamespace: str, ResourceIds: list[str], **_: Any) -> dict[str, Any]:
        return {"ScalableTargets": [copy.deepcopy(self.targets[r]) for r in ResourceIds if r in self.targets]}

    def describe_scaling_policies(self, ServiceNamespace: str, ResourceId: str, **_: Any) -> dict[str, Any]:
        return {"ScalingPolicies": [copy.deepcopy(p) for (r, _n), p in self.policies.items() if r == ResourceId]}

    def delete_scaling_policy(self, PolicyName: str, ResourceId: str, **_: Any) -> dict[str, Any]:
        self.policies.pop((ResourceId, PolicyName), None)
        return {}

    def deregister_scalable_target(self, ResourceId: str, **_: Any) -> dict[str, Any]:
        if ResourceId not in self.targets:
            raise client_error("ObjectNotFoundException", "No scalable target registered", "DeregisterScalableTarget")
        del self.targets[ResourceId]
        for key in [k for k in self.policies if k[0] == ResourceId]:
            del self.policies[key]  # deregistering a target deletes its policies
        return {}


# -- DynamoDB -------------------------------------------------------------------------------------------------
def _value(attribute: dict[str, str]) -> Any:
    ((kind, value),) = attribute.items()
    return int(value) if kind == "N" else value


Condition = Callable[[dict[str, Any] | None, dict[str, Any], dict[str, str]], bool]
# The condition and filter expressions PromotionStore writes, and what they mean. Any other expression fails:
# add it here when the store learns a new one.
CONDITIONS: dict[str, Condition] = {
    "attribute_not_exists(pk) OR expires_at < :now OR holder = :me": lambda item, v, _n: (
        item is None or _value(item["expires_at"]) < _value(v[":now"]) or item["holder"] == v[":me"]
    ),
    "holder = :me": lambda item, v, _n: item is not None and item["holder"] == v[":me"],
    "attribute_not_exists(pk)": lambda item, v, _n: item is None,
    "attribute_exists(pk) AND #s = :pending": lambda item, v, n: item is not None and item[n["#s"]] == v[":pending"],
    "begins_with(pk, :p) AND #s = :pending": lambda item, v, n: (
        item is not None and item["pk"]["S"].startswith(v[":p"]["S"]) and item.get(n["#s"]) == v[":pending"]
    ),
}


class FakeDynamoDB:
    """One table, keyed by (pk, sk), with exactly the expressions :data:`CONDITIONS` lists."""

    exceptions = _Exceptions

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def _check(self, item: dict[str, Any] | None, request: dict[str, Any], operation: str) -> None:
        expression = request.get("ConditionExpression")
        if expression is None:
            return
        if expression not in CONDITIONS:
            raise AssertionError(f"FakeDynamoDB does not know the condition {expression!r}; add it to CONDITIONS")
        values, names = request.get("ExpressionAttributeValues", {}), request.get("ExpressionAttributeNames", {})
        if not CONDITIONS[expression](item, values, names):
            raise _Exceptions.ConditionalCheckFailedException(operation)

    @staticmethod
    def _key(key: dict[str, Any]) -> tuple[str, str]:
        return key["pk"]["S"], key["sk"]["S"]

    def put_item(self, TableName: str, Item: dict[str, Any], **request: Any) -> dict[str, Any]:
        key = self._key(Item)
        self._check(self.items.get(key), request, "PutItem")
        self.items[key] = copy.deepcopy(Item)
        return {}

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        item = self.items.get(self._key(Key))
        return {"Item": copy.deepcopy(item)} if item else {}

    def delete_item(self, TableName: str, Key: dict[str, Any], **request: Any) -> dict[str, Any]:
        self._check(self.items.get(self._key(Key)), request, "DeleteItem")
        self.items.pop(self._key(Key), None)
        return {}

    def update_item(self, TableName: str, Key: dict[str, Any], UpdateExpression: str, **request: Any) -> Any:
        item = self.items.get(self._key(Key))
        self._check(item, request, "UpdateItem")
        assert item is not None
        assert UpdateExpression.startswith("SET "), UpdateExpression
        names, values = request.get("ExpressionAttributeNames", {}), request["ExpressionAttributeValues"]
        for assignment in UpdateExpression.removeprefix("SET ").split(","):
            name, value = (part.strip() for part in assignment.split("="))
            item[names.get(name, name)] = values[value]
        return {}

    def scan(self, TableName: str, FilterExpression: str, **request: Any) -> dict[str, Any]:
        assert FilterExpression in CONDITIONS, FilterExpression
        values, names = request["ExpressionAttributeValues"], request.get("ExpressionAttributeNames", {})
        matches = CONDITIONS[FilterExpression]
        return {"Items": [copy.deepcopy(i) for i in self.items.values() if matches(i, values, names)]}

    def query(self, TableName: str, KeyConditionExpression: str, ExpressionAttributeValues: Any, **request: Any) -> Any:
        assert KeyConditionExpression == "pk = :pk", KeyConditionExpression
        pk = ExpressionAttributeValues[":pk"]["S"]
        items = sorted((i for (p, _s), i in self.items.items() if p == pk), key=lambda i: i["sk"]["S"])
        if not request.get("ScanIndexForward", True):
            items.reverse()
        return {"Items": copy.deepcopy(items[: request.get("Limit", len(items))])}


# -- SNS, CloudWatch, S3 ----------------------------------------------------------------------------------------
class FakeSNS:
    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []

    def publish(self, TopicArn: str, Message: str, Subject: str = "") -> dict[str, Any]:
        if len(Subject) > 100:
            raise client_error("InvalidParameter", "Subject must be at most 100 characters", "Publish")
        self.messages.append({"TopicArn": TopicArn, "Subject": Subject, "Message": Message})
        return {"MessageId": str(len(self.messages))}


class FakeCloudWatch:
    """Metric data put, alarm states a test sets, and GetMetricData answered from ``series``."""

    def __init__(self) -> None:
        self.alarms: dict[str, str] = {}
        self.put: list[dict[str, Any]] = []
        self.queries: list[dict[str, Any]] = []
        # (variant, metric name, stat) -> the value GetMetricData returns for the whole window
        self.series: dict[tuple[str, str, str], float] = {}
        self.definitions: dict[str, dict[str, Any]] = {}  # alarms put with PutMetricAlarm, by name

    def put_metric_alarm(self, **request: Any) -> dict[str, Any]:
        self.definitions[request["AlarmName"]] = request
        self.alarms.setdefault(request["AlarmName"], "INSUFFICIENT_DATA")
        return {}

    def delete_alarms(self, AlarmNames: list[str]) -> dict[str, Any]:
        for name in AlarmNames:
            self.definitions.pop(name, None)
            self.alarms.pop(name, None)
        return {}

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> dict[str, Any]:
        self.put.extend({"Namespace": Namespace, **d} for d in MetricData)
        return {}

    def describe_alarms(self, AlarmNames: list[str]) -> dict[str, Any]:
        return {"MetricAlarms": [{"AlarmName": n, "StateValue": self.alarms[n]} for n in AlarmNames
                                 if n in self.alarms]}  # fmt: skip

    def get_metric_data(self, MetricDataQueries: list[dict[str, Any]], StartTime: Any, EndTime: Any) -> Any:
        results = []
        for query in MetricDataQueries:
            stat = query["MetricStat"]
            period = stat["Period"]
            # GetMetricData: "a period ... must be a multiple of 60" (1, 5, 10, 20, 30 for high resolution only).
            if period % 60 != 0:
                raise client_error(
                    "InvalidParameterValue", f"The parameter Period must be a multiple of 60, got {period}.",
                    "GetMetricData",
                )  # fmt: skip
            self.queries.append({"Period": period, "StartTime": StartTime, "EndTime": EndTime, **stat})
            dimensions = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
            key = (dimensions.get("VariantName", ""), stat["Metric"]["MetricName"], stat["Stat"])
            values = [self.series[key]] if key in self.series else []
            results.append({"Id": query["Id"], "Values": values, "Timestamps": [StartTime] * len(values)})
        return {"MetricDataResults": results}


class _Body:
    def __init__(self, data: bytes, reads: list[int]) -> None:
        self._stream, self._reads = io.BytesIO(data), reads

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._reads.append(len(chunk))
        return chunk

    def iter_lines(self, chunk_size: int = 1024, keepends: bool = False) -> Iterator[bytes]:
        for line in self._stream:
            self._reads.append(len(line))
            yield line if keepends else line.rstrip(b"\r\n")


class _Paginator:
    def __init__(self, s3: FakeS3) -> None:
        self._s3 = s3

    def paginate(self, Bucket: str, Prefix: str = "", **_: Any) -> Iterator[dict[str, Any]]:
        keys = sorted(k for (b, k) in self._s3.objects if b == Bucket and k.startswith(Prefix))
        self._s3.listed.append(Prefix)
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            yield {"Contents": [{"Key": k, "LastModified": self._s3.modified[(Bucket, k)], "Size": len(
                self._s3.objects[(Bucket, k)])} for k in batch]}  # fmt: skip


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.modified: dict[tuple[str, str], dt.datetime] = {}
        self.listed: list[str] = []
        self.reads: list[int] = []

    def put(self, bucket: str, key: str, body: bytes, modified: dt.datetime) -> None:
        self.objects[(bucket, key)] = body
        self.modified[(bucket, key)] = modified

    def get_paginator(self, operation: str) -> _Paginator:
        assert operation == "list_objects_v2", operation
        return _Paginator(self)

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if (Bucket, Key) not in self.objects:
            raise client_error("NoSuchKey", "The specified key does not exist.", "GetObject")
        return {"Body": _Body(self.objects[(Bucket, Key)], self.reads)}


class FakeStepFunctions:
    """Executions by name, with Step Functions' refusal of a second execution of the same name."""

    class exceptions:  # noqa: N801  (boto3's attribute)
        class ExecutionDoesNotExist(ClientError):  # noqa: N818
            pass

        class ExecutionAlreadyExists(ClientError):  # noqa: N818
            pass

    def __init__(self) -> None:
        self.executions: dict[str, dict[str, Any]] = {}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        if executionArn not in self.executions:
            raise self.exceptions.ExecutionDoesNotExist(
                {"Error": {"Code": "ExecutionDoesNotExist", "Message": executionArn}}, "DescribeExecution"
            )
        return self.executions[executionArn]

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        arn = stateMachineArn.replace(":stateMachine:", ":execution:") + f":{name}"
        if arn in self.executions:
            raise self.exceptions.ExecutionAlreadyExists(
                {"Error": {"Code": "ExecutionAlreadyExists", "Message": name}}, "StartExecution"
            )
        self.executions[arn] = {"executionArn": arn, "input": input}
        return {"executionArn": arn}
