#!/bin/sh
# One-shot (temporalio/admin-tools): the namespace and the order workflows' search attributes
# (lib/workflow-safe/search-attributes.ts: OrderId, CustomerId, RestaurantId, OrderStatus). Idempotent.
set -eu
NS="${TEMPORAL_NAMESPACE:-default}"
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do
  echo 'waiting for the Temporal frontend'
  sleep 2
done
temporal operator namespace describe -n "$NS" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 \
  || temporal operator namespace create -n "$NS" --retention 72h --address "$TEMPORAL_ADDRESS"
for name in OrderId CustomerId RestaurantId OrderStatus; do
  if temporal operator search-attribute list -n "$NS" --address "$TEMPORAL_ADDRESS" | grep -qw "$name"; then
    echo "search attribute $name exists"
  else
    temporal operator search-attribute create -n "$NS" --name "$name" --type Keyword --address "$TEMPORAL_ADDRESS"
  fi
done
echo "namespace $NS and search attributes ready"
