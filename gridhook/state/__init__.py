"""The state layer, which the ingress and the consumers share: the SQL store and its tables,
entities as facts with a pure order-independent merge, the entity kinds, the pure transitions
from events to entity updates, and the bind rules."""
