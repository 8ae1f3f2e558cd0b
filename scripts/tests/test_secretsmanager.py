"""Secrets Manager, as its API Reference documents it: staging labels."""

from __future__ import annotations

import uuid

from support import uid


def test_moving_awscurrent_changes_what_a_plain_read_answers(client):
    sm = client("secretsmanager")
    name = uid("secret")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    sm.create_secret(Name=name, SecretString="old", ClientRequestToken=first)
    sm.put_secret_value(SecretId=name, SecretString="new", VersionStages=["AWSPENDING"], ClientRequestToken=second)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "old"
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPENDING")["SecretString"] == "new"

    sm.update_secret_version_stage(
        SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=second, RemoveFromVersionId=first
    )
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSPENDING", RemoveFromVersionId=second)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "new"
    assert sm.describe_secret(SecretId=name)["VersionIdsToStages"] == {first: ["AWSPREVIOUS"], second: ["AWSCURRENT"]}
