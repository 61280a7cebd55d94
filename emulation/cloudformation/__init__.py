"""AWS CloudFormation: fixes inside moto's stack engine (``stacks.CloudFormationPart``)."""
