"""Development tools that production processes never import (an import-linter contract says
so): the embedded Apache Kafka cluster, the dev identity provider that signs PowerBox tokens,
and the helper that signs a Light webhook by hand. Only the composition root (`gridhook run`,
the `gridhook` command), the tests and the benchmarks use them."""
