#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The committed seed corpora of fuzz_resume and fuzz_rec are exactly what
their generators write (tests/fuzz/gen_corpus_resume.py,
tests/tools/gen_rec_corpus.c), so they can be regenerated and stay valid as
the formats evolve. Env: LR_BUILD_DIR, LR_SOURCE_DIR.
"""
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile


def same(a, b, what):
    d = filecmp.dircmp(a, b)
    diff = d.left_only + d.right_only + filecmp.cmpfiles(a, b, d.common_files, shallow=False)[1]
    ok = not diff
    print("%s %s %s" % ("ok  " if ok else "FAIL", what, diff), flush=True)
    return ok


def main():
    build = os.environ["LR_BUILD_DIR"]
    src = os.environ["LR_SOURCE_DIR"]
    tmp = tempfile.mkdtemp(prefix="lrcorpus.")
    ok = True
    try:
        subprocess.run([sys.executable, os.path.join(src, "tests", "fuzz", "gen_corpus_resume.py"),
                        os.path.join(tmp, "resume")], check=True)
        ok &= same(os.path.join(tmp, "resume"),
                   os.path.join(src, "tests", "fuzz", "corpus", "resume"),
                   "tests/fuzz/corpus/resume is gen_corpus_resume.py's output")
        os.makedirs(os.path.join(tmp, "rec"))
        subprocess.run([os.path.join(build, "tests", "gen_rec_corpus"), os.path.join(tmp, "rec")],
                       check=True)
        ok &= same(os.path.join(tmp, "rec"), os.path.join(src, "tests", "fuzz", "corpus", "rec"),
                   "tests/fuzz/corpus/rec is gen_rec_corpus's output")
    finally:
        shutil.rmtree(tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
