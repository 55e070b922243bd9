"""Transform a SAM template with AWS's SAM translator (aws-sam-translator,
the code behind `sam build`, `sam deploy` and CloudFormation's
AWS::Serverless transform) and print the resulting CloudFormation template
as JSON. Usage: python3 transform.py template.yaml

Local CodeUri folders (bin/<function>/, what `sam local` runs) become an
s3:// placeholder first, as `sam package` would upload them: the
translator itself only takes S3 locations.
"""

import json
import os
import sys

# The translator fills AWS::Region from boto's session; any region does.
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no managed policy by name; asking IAM is not
    needed (and there is no account here)."""

    def load(self):
        return {}


def main(path):
    with open(path) as f:
        template = yaml_parse(f.read())
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://plainview-placeholder/" + props["CodeUri"].strip("/") + ".zip"
    try:
        out = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(cause.message, file=sys.stderr)
        sys.exit(1)
    json.dump(out, sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main(sys.argv[1])
