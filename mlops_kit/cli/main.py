"""`mlops`: the kit's command line."""

from __future__ import annotations

import typer

from mlops_kit.cli import abtest, batch, dataset, drift, features, invoke, pipeline, promotion, quality, registry
from mlops_local import cli as local  # the local rehearsal: `mlops local ...` and `mlops demo`

app = typer.Typer(
    help="Serverless MLOps kit for AWS: rehearse locally, deploy with CDK, approve, invoke.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(local.app, name="local")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(registry.app, name="registry")
app.add_typer(dataset.app, name="dataset")
app.add_typer(promotion.promotions, name="promotions")
app.command()(promotion.promote)
app.command()(promotion.approve)
app.command()(promotion.reject)
app.command()(promotion.rollback)
app.command()(invoke.invoke)
app.add_typer(features.app, name="features")
app.add_typer(drift.app, name="drift")
app.add_typer(quality.app, name="quality")
app.add_typer(abtest.app, name="abtest")
app.command()(batch.batch)
app.command()(local.demo)


if __name__ == "__main__":
    app()
