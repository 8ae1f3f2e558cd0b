"""IAM: removing a role that an instance profile does not hold."""

from __future__ import annotations


def apply() -> None:
    from moto.iam import models as iam
    from moto.iam.exceptions import NoSuchEntity

    # AWS (IAM API Reference, RemoveRoleFromInstanceProfile → Errors): a role the profile
    # does not hold is NoSuchEntity (404), as a missing profile or role is — what a retry
    # meets when the first attempt removed it and its reply was lost. moto's list removal
    # raised ValueError, answered as an HTML 500 page.
    original = iam.IAMBackend.remove_role_from_instance_profile

    def remove_role_from_instance_profile(self, profile_name, role_name):
        profile = self.get_instance_profile(profile_name)
        if not any(role.name == role_name for role in profile.roles):
            raise NoSuchEntity(f"The role with name {role_name} cannot be found in instance profile {profile_name}.")
        return original(self, profile_name, role_name)

    iam.IAMBackend.remove_role_from_instance_profile = remove_role_from_instance_profile
