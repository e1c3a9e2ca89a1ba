#!/usr/bin/env bash
# Regenerates Sources/OTLPProto from the official OTLP definitions in proto/
# (opentelemetry-proto v1.11.0: common, resource, logs, collector/logs). Not part
# of the build: the generated code is committed, so a build never needs protoc
# or protoc-gen-swift (whose first build alone takes minutes).
#   apt-get install protobuf-compiler
#   (in a checkout of swift-protobuf 1.39.0) swift build --product protoc-gen-swift
#   scripts/gen-otlp.sh PATH/TO/protoc-gen-swift
set -euo pipefail
cd "$(dirname "$0")/.."
plugin=${1:?usage: scripts/gen-otlp.sh PATH/TO/protoc-gen-swift}
rm -f Sources/OTLPProto/*.pb.swift
(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort) | xargs \
  protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public \
  --swift_opt=FileNaming=PathToUnderscores --swift_out=Sources/OTLPProto -Iproto
