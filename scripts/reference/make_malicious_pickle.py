"""Write zips laid out like torch checkpoints whose pickle calls a dangerous global.

Needs only the Python standard library. Run from the repo root:

    python3 scripts/reference/make_malicious_pickle.py

Writes engine/tests/fixtures/malicious_os_system.bin (protocol 2, `GLOBAL posix system`, as
torch.save's pickle protocol) and malicious_eval_proto4.bin (protocol 4, `STACK_GLOBAL
builtins eval`, nested inside a dict value). The Rust reader must refuse both, naming the
global, without running anything. Loading these with torch.load(weights_only=False) WOULD run
`echo pwned`: never do that.
"""

import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "engine" / "tests" / "fixtures"


class RunsCommand:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


class Evals:
    def __reduce__(self):
        return (eval, ("print('pwned')",))


def write_torch_like_zip(path: Path, pkl: bytes) -> None:
    # Fixed timestamps so the output is reproducible.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in [
            ("archive/data.pkl", pkl),
            ("archive/byteorder", b"little"),
            ("archive/version", b"3\n"),
        ]:
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write_torch_like_zip(OUT / "malicious_os_system.bin", pickle.dumps(RunsCommand(), protocol=2))
    nested = OrderedDict([("ok", 1), ("evil", Evals())])
    write_torch_like_zip(OUT / "malicious_eval_proto4.bin", pickle.dumps(nested, protocol=4))


if __name__ == "__main__":
    main()
