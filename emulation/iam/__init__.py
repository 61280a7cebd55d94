"""AWS IAM: the twin authorizes every request signed with a role's session credentials against
the role's policies and the resource's policy, as AWS does (``authorizer.IamEnforcement``).
"""
