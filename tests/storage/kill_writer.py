"""Child process of test_kill: commit forever in fsync="always" mode, printing each ack.

``python -m tests.storage.kill_writer <dir> <seed>``: prints ``<hash hex> <actor hex> <seq>``
after each commit returns (so after the fsync), flushing stdout; every 97th commit it also
creates an epoch (so kills land inside create_epoch too).
"""

from __future__ import annotations

import random
import sys

from crdt.storage import Store

from .util import RandomPicker, edit_random


def main() -> None:
    path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    pick = RandomPicker(rng)
    st = Store.open(path, "always")
    pd = st.open_doc()
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    i = 0
    while True:
        i += 1
        tx = pd.begin(time=i)
        edit_random(pd.doc, pick)
        c = pd.commit(tx)
        if c is not None:
            out.write(f"{c.hash.hex()} {c.actor.hex()} {c.seq}\n")
            out.flush()
        if i % 97 == 0:
            st.create_epoch(pd)


if __name__ == "__main__":
    main()
