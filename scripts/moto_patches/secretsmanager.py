"""Secrets Manager corrections.

- UpdateSecretVersionStage moving `AWSCURRENT`: GetSecretValue without a VersionId or
  VersionStage answers the version labelled `AWSCURRENT` (Secrets Manager API Reference,
  GetSecretValue → VersionStage: "defaults to AWSCURRENT"). moto moves the label but keeps
  answering the old version, so a rotation finished by moving the label seemed undone.
"""

from __future__ import annotations


def apply() -> None:
    from moto.secretsmanager.models import SecretsManagerBackend

    original = SecretsManagerBackend.update_secret_version_stage

    def update_secret_version_stage(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
        answer = original(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
        if version_stage == "AWSCURRENT" and move_to_version_id:
            secret = self.secrets[secret_id]
            secret.set_default_version_id(move_to_version_id)
        return answer

    SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage
