"""Stage 03 on a big log must not pay for libraries it does not use: sklearn (~1 s) and scipy are imported
where a model is fitted or a metric scored, not when the kit's modules are."""
import subprocess
import sys


def test_contest_and_model_registry_import_neither_sklearn_nor_scipy():
    code = ("import sys, common.contest, common.models, common.stages.features, common.data.logs; "
            "from common.models import MODELS; assert 'knn' in MODELS.list() and 'svc' in MODELS.list(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_sklearn_models_and_metrics_still_work_once_imported_lazily():
    import pickle

    import numpy as np

    from common.config import Component
    from common.metrics import get_metric
    from common.models.base import accepted_params, create_model

    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    import pandas as pd

    X = pd.DataFrame(X, columns=["a", "b", "c"])
    model = create_model(Component(name="knn", params={"n_neighbors": 100}), task="binary").fit(X, y)
    assert model.predict(X).shape == (40,)  # k capped to the 40 rows
    assert pickle.loads(pickle.dumps(model)).predict(X).shape == (40,)
    assert {"n_neighbors", "weights"} <= accepted_params("knn") and "C" in accepted_params("svc")
    assert 0 <= get_metric("auc")(y, model.predict(X)) <= 1
