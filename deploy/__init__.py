"""Deploy path: package the artifacts, deploy deploy/template.yaml through a change set, delete.

The same code deploys to AWS and to the twin; only the clients (the endpoint) differ.
``deploy_stack`` returns the stack's outputs; ``plan_stack`` is the dry run; ``destroy_stack``
empties the buckets and deletes the stack. ``python -m deploy`` is the command line.
"""

from deploy.stack import deploy_stack, destroy_stack, plan_stack

__all__ = ["deploy_stack", "destroy_stack", "plan_stack"]
