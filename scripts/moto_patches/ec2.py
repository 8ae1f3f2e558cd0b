"""EC2: a block device mapping that names neither a size nor a snapshot."""

from __future__ import annotations


def apply() -> None:
    from moto.ec2.models.instances import Instance

    # AWS (EC2 User Guide, "Block device mappings", and RunInstances'
    # BlockDeviceMapping.Ebs): a mapping at the image's root device that gives no
    # VolumeSize or SnapshotId changes only what it names (here: encryption, volume type)
    # and takes the image's root snapshot and its size. moto refuses it with
    # MissingParameter size/snapshot; its images have no real snapshots, so the volume gets
    # moto's default root size.
    ROOT_SIZE_GIB = 8
    original = Instance.add_block_device

    def add_block_device(self, size, device_path, snapshot_id, encrypted, delete_on_termination,
                         kms_key_id, volume_type=None):
        if size is None and snapshot_id is None:
            size = ROOT_SIZE_GIB
        return original(self, size, device_path, snapshot_id, encrypted, delete_on_termination,
                        kms_key_id, volume_type=volume_type)

    Instance.add_block_device = add_block_device
