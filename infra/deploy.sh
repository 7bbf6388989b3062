#!/usr/bin/env bash
# Build the sales-lakehouse artifacts, upload them and deploy infra/template.yaml.
#
#   infra/deploy.sh -e ENV -m ALERT_EMAIL [-r REGION] [-s STACK] [-- Key=Value ...]
#
# Steps: build the wheel (pip wheel --no-deps) and the Lambda zip (the package without
# its Spark dependencies, plus Powertools, pydantic and PyYAML for Linux x86_64 /
# Python 3.11); on the stack's first deployment, create it without Lambda code (the
# artifacts bucket does not exist before); upload wheel, job scripts and zip under
# releases/<version>-<id>/ in the artifacts bucket; deploy again pointing at them.
# Everything account- or bucket-specific is read from the stack's outputs.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: infra/deploy.sh -e ENV -m ALERT_EMAIL [-r REGION] [-s STACK] [-- Key=Value ...]

  -e ENV          environment name (2-10 of a-z0-9, e.g. dev, prod); names every resource
  -m EMAIL        e-mail address subscribed to the alert topic
  -r REGION       AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION or the CLI profile's)
  -s STACK        stack name (default: sales-lakehouse-ENV)
  -h              this help
  Key=Value ...   after --: more template parameters, e.g. BatchSchedule='cron(0 3 * * ? *)'

Needs: aws CLI v2 with credentials for the target account, Python 3.11 with pip and
PyYAML ($PYTHON, default .venv/bin/python when present, else python3.11).
EOF
}

env_name="" email="" region="" stack=""
while getopts ":e:m:r:s:h" opt; do
  case "$opt" in
    e) env_name="$OPTARG" ;;
    m) email="$OPTARG" ;;
    r) region="$OPTARG" ;;
    s) stack="$OPTARG" ;;
    h) usage; exit 0 ;;
    :) echo "error: -$OPTARG needs a value" >&2; usage >&2; exit 2 ;;
    *) echo "error: unknown option -$OPTARG" >&2; usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ "${1:-}" == "--" ]]; then shift; fi
extra_parameters=("$@")

if [[ -z "$env_name" || -z "$email" ]]; then
  echo "error: -e ENV and -m ALERT_EMAIL are required" >&2
  usage >&2
  exit 2
fi
if [[ ! "$env_name" =~ ^[a-z][a-z0-9]{1,9}$ ]]; then
  echo "error: ENV must be 2-10 lower-case letters and digits, starting with a letter" >&2
  exit 2
fi
stack="${stack:-sales-lakehouse-$env_name}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3.11; fi
fi
command -v aws >/dev/null 2>&1 || { echo "error: the aws CLI is required" >&2; exit 1; }
"$PYTHON" -c 'import sys, yaml; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || { echo "error: $PYTHON must be Python 3.11 with PyYAML" >&2; exit 1; }

aws_args=()
if [[ -n "$region" ]]; then aws_args+=(--region "$region"); fi

stack_output() {
  aws "${aws_args[@]}" cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text 2>/dev/null || true
}

# ---- build ------------------------------------------------------------------------------
version="$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
release_id="$(git rev-parse --short HEAD 2>/dev/null || date -u +%Y%m%dT%H%M%SZ)"
out="build/deploy/$version-$release_id"
rm -rf "$out"
mkdir -p "$out/lambda"

echo "building the wheel into $out"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$out" .
wheel="$(find "$out" -maxdepth 1 -name 'sales_lakehouse-*.whl' | head -n 1)"
[[ -n "$wheel" ]] || { echo "error: no wheel was built" >&2; exit 1; }

echo "building the Lambda zip (no Spark)"
"$PYTHON" -m pip install --quiet --no-deps --target "$out/lambda" "$wheel"
rm -rf "$out/lambda/bin"  # console scripts: of no use in Lambda
"$PYTHON" -m pip install --quiet --target "$out/lambda" \
  --platform manylinux2014_x86_64 --implementation cp --python-version 3.11 --only-binary=:all: \
  "aws-lambda-powertools[parser]>=3,<4" "pydantic>=2.6,<3" "PyYAML>=6.0"
"$PYTHON" -c 'import shutil, sys; shutil.make_archive(sys.argv[1], "zip", sys.argv[2])' \
  "$out/lambda" "$out/lambda"
zip_sha="$("$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()[:16])' "$out/lambda.zip")"

"$PYTHON" infra/cfn_template.py infra/template.yaml "$out/template.json"

parameters=(
  "EnvironmentName=$env_name"
  "AlertEmail=$email"
  "WheelFileName=$(basename "$wheel")"
)

deploy() {
  # $1: ArtifactsPrefix, $2: LambdaCodeKey, $3: bucket for the template ("" = inline)
  local upload=()
  if [[ -n "$3" ]]; then upload=(--s3-bucket "$3" --s3-prefix "$1/cloudformation"); fi
  aws "${aws_args[@]}" cloudformation deploy \
    --stack-name "$stack" \
    --template-file "$out/template.json" \
    --capabilities CAPABILITY_NAMED_IAM \
    --no-fail-on-empty-changeset \
    "${upload[@]}" \
    --parameter-overrides "${parameters[@]}" "ArtifactsPrefix=$1" "LambdaCodeKey=$2" \
    "${extra_parameters[@]}"
}

# ---- first deployment: create the stack (and its artifacts bucket) without Lambda code --
artifacts_bucket="$(stack_output ArtifactsBucketName)"
if [[ -z "$artifacts_bucket" || "$artifacts_bucket" == "None" ]]; then
  echo "stack $stack has no artifacts bucket yet: bootstrap deployment"
  deploy "releases/bootstrap" "" ""
  artifacts_bucket="$(stack_output ArtifactsBucketName)"
  [[ -n "$artifacts_bucket" && "$artifacts_bucket" != "None" ]] \
    || { echo "error: the stack has no ArtifactsBucketName output" >&2; exit 1; }
fi

# ---- upload and deploy the release ------------------------------------------------------
prefix="releases/$version-$release_id"
lambda_key="$prefix/lambda-$zip_sha.zip"
echo "uploading to s3://$artifacts_bucket/$prefix/"
aws "${aws_args[@]}" s3 cp --only-show-errors "$wheel" "s3://$artifacts_bucket/$prefix/"
aws "${aws_args[@]}" s3 cp --only-show-errors --recursive --exclude '*' --include '*.py' \
  jobs/ "s3://$artifacts_bucket/$prefix/jobs/"
aws "${aws_args[@]}" s3 cp --only-show-errors "$out/lambda.zip" "s3://$artifacts_bucket/$lambda_key"

deploy "$prefix" "$lambda_key" "$artifacts_bucket"
echo "deployed $stack: release $prefix"
aws "${aws_args[@]}" cloudformation describe-stacks --stack-name "$stack" \
  --query 'Stacks[0].Outputs' --output table
