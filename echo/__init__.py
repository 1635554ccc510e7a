"""echo: the database layer (spaces of typed objects, schemas as data, replication, epochs
and migrations) built on the :mod:`crdt` engine.

Nothing is exported yet: the database is specified by later issues (replication, spaces,
epochs and migrations, membership).  The package exists so that its name, typing marker
and place in the build are settled from the start.
"""

__all__: list[str] = []
