""":class:`~.repository.ExperimentRepository` on the experiments DynamoDB table (layout in :mod:`.table`).

Each method is one conditional write or one read (lists: one query per shard), through a low-level boto3
client passed in (boto3 on AWS, the emulator's in tests). The contract is the repository's, kept exactly and
tested against :class:`~.repository.InMemoryRepository` with the same tests:

* ``put_experiment`` writes only over the version it follows: ``attribute_not_exists(pk)`` for version 1,
  ``version = v - 1`` otherwise, and once started also ``plan_hash`` equal to the stored one (the plan is
  immutable). A refused write is explained from the stored item with the in-memory implementation's errors.
* ``record_exposure`` keeps the earliest exposure per user (``at_us`` compared in the condition).
* ``record_outcome`` writes once per event id (``attribute_not_exists(pk)``).

Reads of one item are strongly consistent; the lists (exposures, outcomes, experiments) are eventually
consistent queries, which the periodic status does not mind.

Beyond the Protocol, the same table keeps two small records per experiment (:meth:`get_record`,
:meth:`put_record`): the endpoint *split* (:mod:`.endpoint`) and the latest status snapshot.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from mlops_kit.abtest.errors import (
    ConcurrentUpdateError,
    ExperimentExistsError,
    ExperimentNotFoundError,
    IllegalTransitionError,
)
from mlops_kit.abtest.models import Experiment, ExperimentState, Exposure, OutcomeEvent
from mlops_kit.abtest.routing import route_json
from mlops_kit.abtest.table import (
    SHARDS,
    SPLIT_PK,
    STATUS_PK,
    epoch_us,
    experiment_key,
    experiment_names,
    exposure_key,
    exposure_partition,
    outcome_key,
    outcome_partition,
    put_exposure,
    query_all,
)

RecordKind = Literal["split", "status"]
_RECORD_PK: dict[str, str] = {"split": SPLIT_PK, "status": STATUS_PK}


def plan_hash(experiment: Experiment) -> str:
    """A digest of the experiment's plan (its canonical JSON): equal plans, equal digests."""
    return hashlib.sha256(experiment.plan.model_dump_json().encode()).hexdigest()


class DynamoDBRepository:
    """Experiments, exposures and outcomes in the experiments table ``table_name``."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self.dynamodb = dynamodb
        self.table_name = table_name

    # -- experiments ---------------------------------------------------------------------------------------
    def _stored(self, name: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.dynamodb.get_item(
            TableName=self.table_name, Key=experiment_key(name), ConsistentRead=True
        ).get("Item")
        return item

    def get_experiment(self, name: str) -> Experiment:
        """See :meth:`.ExperimentRepository.get_experiment`."""
        item = self._stored(name)
        if item is None:
            raise ExperimentNotFoundError(name, experiment_names(self.dynamodb, self.table_name))
        return Experiment.model_validate_json(item["document"]["S"])

    def put_experiment(self, experiment: Experiment) -> None:
        """See :meth:`.ExperimentRepository.put_experiment`."""
        digest = plan_hash(experiment)
        item: dict[str, Any] = {
            **experiment_key(experiment.name),
            "document": {"S": experiment.model_dump_json()},
            "version": {"N": str(experiment.version)},
            "state": {"S": experiment.state.value},
            "plan_hash": {"S": digest},
            "updated_at": {"S": datetime.now(UTC).isoformat()},
        }
        route = route_json(experiment)
        if route is not None:
            item["route"] = {"S": route}
        if experiment.version == 1:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :previous AND (#state = :planned OR plan_hash = :plan)",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": {
                    ":previous": {"N": str(experiment.version - 1)},
                    ":planned": {"S": ExperimentState.PLANNED.value},
                    ":plan": {"S": digest},
                },
            }
        try:
            self.dynamodb.put_item(TableName=self.table_name, Item=item, **condition)
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            raise self._refusal(experiment, digest) from None

    def _refusal(self, experiment: Experiment, digest: str) -> Exception:
        """Why a conditional write was refused, from the stored item (versions only grow, so it is stable)."""
        stored = self._stored(experiment.name)
        name, version = experiment.name, experiment.version
        if stored is None:
            return ConcurrentUpdateError(
                f"experiment {name!r} is not stored, so version {version} has nothing to follow; create it at version 1"
            )
        if version == 1:
            return ExperimentExistsError(f"experiment {name!r} already exists; choose another name")
        stored_version = int(stored["version"]["N"])
        if stored_version != version - 1:
            return ConcurrentUpdateError(
                f"experiment {name!r} is at version {stored_version}, this update follows "
                f"version {version - 1}; re-read it and retry"
            )
        if stored["state"]["S"] != ExperimentState.PLANNED.value and stored["plan_hash"]["S"] != digest:
            return IllegalTransitionError(f"the plan of experiment {name!r} is immutable once started")
        return ConcurrentUpdateError(f"experiment {name!r} changed while it was written; re-read it and retry")

    def list_experiments(self) -> list[Experiment]:
        """See :meth:`.ExperimentRepository.list_experiments`."""
        items = query_all(self.dynamodb, self.table_name, "experiment")
        return [Experiment.model_validate_json(i["document"]["S"]) for i in sorted(items, key=lambda i: i["sk"]["S"])]

    # -- exposures -----------------------------------------------------------------------------------------
    def record_exposure(self, exposure: Exposure) -> bool:
        """See :meth:`.ExperimentRepository.record_exposure`."""
        return put_exposure(
            self.dynamodb,
            self.table_name,
            experiment=exposure.experiment,
            user_id=exposure.user_id,
            arm=exposure.arm,
            variant=exposure.variant,
            at=exposure.at,
        )

    @staticmethod
    def _exposure(item: dict[str, Any]) -> Exposure:
        return Exposure.model_validate(
            {
                "experiment": item["experiment"]["S"],
                "user_id": item["sk"]["S"],
                "arm": item["arm"]["S"],
                "variant": item["variant"]["S"],
                "at": datetime.fromisoformat(item["at"]["S"]),
            }
        )

    def get_exposure(self, experiment: str, user_id: str) -> Exposure | None:
        """See :meth:`.ExperimentRepository.get_exposure`."""
        item = self.dynamodb.get_item(
            TableName=self.table_name, Key=exposure_key(experiment, user_id), ConsistentRead=True
        ).get("Item")
        return None if item is None else self._exposure(item)

    def list_exposures(self, experiment: str) -> list[Exposure]:
        """See :meth:`.ExperimentRepository.list_exposures`."""
        return [
            self._exposure(item)
            for shard in range(SHARDS)
            for item in query_all(self.dynamodb, self.table_name, exposure_partition(experiment, shard))
        ]

    # -- outcomes ------------------------------------------------------------------------------------------
    def record_outcome(self, outcome: OutcomeEvent) -> bool:
        """See :meth:`.ExperimentRepository.record_outcome`."""
        try:
            self.dynamodb.put_item(
                TableName=self.table_name,
                Item={
                    **outcome_key(outcome.experiment, outcome.event_id),
                    "experiment": {"S": outcome.experiment},
                    "user_id": {"S": outcome.user_id},
                    "metric": {"S": outcome.metric},
                    "value": {"S": repr(outcome.value)},
                    "at": {"S": outcome.at.isoformat()},
                    "at_us": {"N": str(epoch_us(outcome.at))},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def list_outcomes(self, experiment: str) -> list[OutcomeEvent]:
        """See :meth:`.ExperimentRepository.list_outcomes`."""
        return [
            OutcomeEvent(
                experiment=item["experiment"]["S"],
                user_id=item["user_id"]["S"],
                metric=item["metric"]["S"],
                value=float(item["value"]["S"]),
                at=datetime.fromisoformat(item["at"]["S"]),
                event_id=item["sk"]["S"],
            )
            for shard in range(SHARDS)
            for item in query_all(self.dynamodb, self.table_name, outcome_partition(experiment, shard))
        ]

    # -- split and status records ----------------------------------------------------------------------------
    def get_record(self, kind: RecordKind, name: str) -> tuple[str, int] | None:
        """A record's JSON body and revision, or ``None``."""
        item = self.dynamodb.get_item(
            TableName=self.table_name,
            Key={"pk": {"S": _RECORD_PK[kind]}, "sk": {"S": name}},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else (str(item["body"]["S"]), int(item["revision"]["N"]))

    def put_record(self, kind: RecordKind, name: str, body: str, *, revision: int | None = None) -> None:
        """Store a record: unconditionally when ``revision`` is ``None``; else only over ``revision - 1`` (a new
        record at revision 1). Raises ``ConcurrentUpdateError`` when another writer got there first."""
        item = {
            "pk": {"S": _RECORD_PK[kind]},
            "sk": {"S": name},
            "body": {"S": body},
            "revision": {"N": str(revision or 0)},
            "updated_at": {"S": datetime.now(UTC).isoformat()},
        }
        condition: dict[str, Any] = {}
        if revision == 1:
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        elif revision is not None:
            condition = {
                "ConditionExpression": "revision = :previous",
                "ExpressionAttributeValues": {":previous": {"N": str(revision - 1)}},
            }
        try:
            self.dynamodb.put_item(TableName=self.table_name, Item=item, **condition)
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            raise ConcurrentUpdateError(
                f"the {kind} record of experiment {name!r} changed since it was read (revision {revision}); "
                "re-read it and retry"
            ) from None
