"""The package's shape: imports flow one way (no module imports one that imports it back,
also through imports inside functions) and every module stays readable in one sitting."""
import ast
import os

import tfbert

PACKAGE = os.path.dirname(tfbert.__file__)
MAX_MODULE_LINES = 450


def _modules():
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for file in files:
            if file.endswith(".py"):
                path = os.path.join(folder, file)
                name = "tfbert." + os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, ".")
                found[name.removesuffix(".__init__")] = path
    return found


def _imports(modules):
    """Module -> the tfbert modules it imports anywhere (module level or in functions)."""
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        # A module may import its own package (tfbert, tfbert.tasks) for the names it exports.
        graph[name] = {t for t in targets if t in modules and t != name
                       and not name.startswith(t + ".")}
    return graph


def test_imports_flow_one_way():
    graph = _imports(_modules())

    def reaches(start, goal):
        seen, stack = set(), [start]
        while stack:
            for target in graph[stack.pop()] - seen:
                if target == goal:
                    return True
                seen.add(target)
                stack.append(target)
        return False
    cycles = sorted((a, b) for a in graph for b in graph[a] if reaches(b, a))
    assert cycles == []
    assert "tfbert.tasks" in graph["tfbert.evaluation"]          # the graph is really read


def test_modules_stay_short():
    lengths = {name: sum(1 for _ in open(path, encoding="utf-8"))
               for name, path in _modules().items()}
    assert max(lengths.values()) > 100
    assert {name: n for name, n in lengths.items() if n > MAX_MODULE_LINES} == {}


def test_no_module_outside_the_tasks_compares_task_or_export_kind_names():
    """Each kind is asked (its task object, its loaded type), never compared by name."""
    from tfbert.serving import LOADED_TYPES
    from tfbert.tasks import TASK_TYPES
    names = set(TASK_TYPES) | set(LOADED_TYPES)
    assert {"question-answering", "embedder", "classifier", "regression"} <= names
    found = []
    for name, path in _modules().items():
        if name == "tfbert.tasks" or name.startswith("tfbert.tasks."):
            continue
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.Compare):
                constants = {sub.value for part in (node.left, *node.comparators)
                             for sub in ast.walk(part) if isinstance(sub, ast.Constant)}
                if constants & names:
                    found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert found == []
