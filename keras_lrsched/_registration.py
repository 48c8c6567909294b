"""Registration with keras, for a package whose public names are imported lazily.

The schedule classes register themselves with keras when their modules are imported
(`_api.export`), and `keras.saving.load_model` finds them only in that registry. So once keras is
imported, all our modules are: at once when keras came first (`start`), else right after keras by
`_RegisterWithKeras`. That one waits while one of our own modules is half-imported (it may be the
one importing keras, and the others import names from it), and runs when the outermost one is
done.
"""

import sys
import threading
import warnings

PACKAGE = __name__.rpartition(".")[0]
_import_all = None  # the package's: imports every public name


def start(import_all):
    """Called once, at the end of the package's __init__."""
    global _import_all
    _import_all = import_all
    if "keras" in sys.modules:
        import_all()
    else:
        _set_finder(True)


def _importing_ours(done):
    """Whether one of our modules other than `done` is being imported (in any thread)."""
    prefix = PACKAGE + "."
    return any(
        (name == PACKAGE or name.startswith(prefix))
        and module is not done
        and getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items())
    )


class _ThenRegister:
    """A module's own loader, then `_register_with_keras()` once the module has run."""

    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def exec_module(self, module):
        if module.__spec__ is not None and module.__spec__.loader is self:
            module.__spec__.loader = self.loader
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self.loader
        self.loader.exec_module(module)
        _register_with_keras(module)


class _RegisterWithKeras:
    """A `sys.meta_path` finder that wraps the loaders of `keras` and of our own modules.

    It finds nothing itself: it asks the other finders and wraps the loader they return.
    """

    def __init__(self):
        # Set while we ask the other finders: one of them may ask the import system, hence us.
        self._asking = threading.local()

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" and not fullname.startswith(PACKAGE + "."):
            return None
        if getattr(self._asking, "now", False):
            return None
        self._asking.now = True
        try:
            spec = self._others_spec(fullname, path, target)
        finally:
            self._asking.now = False
        if spec is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _ThenRegister(spec.loader)
        return spec

    def _others_spec(self, fullname, path, target):
        for finder in list(sys.meta_path):
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None


_finder = _RegisterWithKeras()
_finder_lock = threading.Lock()


def _set_finder(installed):
    # A new list rather than an edit in place: another thread may be iterating over the old one.
    with _finder_lock:
        present = _finder in sys.meta_path
        if installed and not present:
            sys.meta_path = [_finder, *sys.meta_path]
        elif present and not installed:
            sys.meta_path = [f for f in sys.meta_path if f is not _finder]
        return present


def _register_with_keras(done):
    """Imports all our modules once keras is imported; `done` is the module that just ran."""
    if "keras" not in sys.modules or _importing_ours(done):
        return
    if not _set_finder(False):
        return  # done already, or being done by another thread
    try:
        _import_all()
    except Exception as err:  # never make `import keras` fail; the name's next use raises it
        warnings.warn(
            f"keras_lrsched could not register its schedules with keras: {err!r}",
            RuntimeWarning,
        )
