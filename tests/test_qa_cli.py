"""The question answering commands, in process: ``tfbert train`` on SQuAD JSON exports a model
that ``tfbert predict`` and ``tfbert evaluate`` answer with."""
import json
import os

from tfbert import cli
from test_qa_model import QUESTION, synthetic


def _squad_file(path, examples):
    """``examples`` as a SQuAD 2.0 JSON file (one paragraph per question)."""
    articles = {}
    for e in examples:
        articles.setdefault(e.article, []).append({"context": e.context, "qas": [{
            "id": e.qid, "question": e.question, "is_impossible": e.is_impossible,
            "answers": [{"text": a.text, "answer_start": a.start} for a in e.answers]}]})
    data = [{"title": title, "paragraphs": paragraphs} for title, paragraphs in articles.items()]
    path.write_text(json.dumps({"version": "v2.0", "data": data}))
    return str(path)


def test_train_predict_evaluate_question_answering(tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    train = _squad_file(tmp_path / "train.json", synthetic(40, 0, "t"))
    test = _squad_file(tmp_path / "test.json", synthetic(12, 1, "x"))
    export = str(tmp_path / "saved_models" / "qa")
    from tfbert.data import load_data
    assert load_data(train).version == "2.0"        # a .json source is read as SQuAD
    assert cli.main(["train", "--task", "question-answering", "--data", train, "--test-data",
                     test, "--model", tiny_model, "--epochs", "1", "--batch-size", "8",
                     "--learning-rate", "1e-3", "--seq-length", "48", "--doc-stride", "16",
                     "--max-query-length", "8", "--output", export, "--jit-compile",
                     "--run-dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    with open(tmp_path / "run" / "config.json") as f:
        config = json.load(f)
    # The training step ran through XLA; no --dropout: the span layer's default (none), not
    # the classifier's 0.1; no --lr-schedule: question answering's decay from warmup's end.
    assert config["jit_compile"] is True and config["qa_model"]["dropout"] == 0.0
    assert config["lr_schedule"] == "huggingface"
    assert "SQuAD 2.0" in out and os.path.isfile(tmp_path / "run" / "report_test" /
                                                 "report.json")
    context = "some people would like the answer is comedy and the story ."
    assert cli.main(["predict", export, "--question", QUESTION, "--context", context,
                     "--json"]) == 0
    answer = json.loads(capsys.readouterr().out.strip())
    assert answer["answer"] == context[answer["start"]:answer["end"]] or not answer["has_answer"]
    assert set(answer) >= {"answer", "start", "end", "score", "has_answer"}

    assert cli.main(["predict", export, "--file", test, "--output", "predictions.json"]) == 0
    with open("predictions.json") as f:
        predictions = json.load(f)
    assert sorted(predictions) == sorted(f"x{i}" for i in range(12))
    assert all(isinstance(text, str) for text in predictions.values())
    # A missing input file fails before the model loads; an output is never overwritten.
    assert cli.main(["predict", export, "--file", "missing.json", "--output", "p.json"]) == 2
    assert cli.main(["predict", export, "--file", test, "--output", "predictions.json"]) == 2
    capsys.readouterr()

    for _ in range(2):      # a second report goes to a new folder
        assert cli.main(["evaluate", export, "--data", test]) == 0
    assert "exact match" in capsys.readouterr().out
    # A SQuAD file is scored whole: a --split is refused in one line and writes nothing.
    assert cli.main(["evaluate", export, "--data", test, "--split", "validation"]) == 2
    assert "--split validation: a SQuAD file is evaluated whole" in capsys.readouterr().err
    reports = os.path.join("runs", "qa", "1")
    assert sorted(os.listdir(reports)) == ["report_test", "report_test-2"]
    with open(os.path.join(reports, "report_test", "report.json")) as f:
        report = json.load(f)
    assert report["questions"] == 12 and 0 <= report["f1"] <= 100 and "HasAns_f1" in report
