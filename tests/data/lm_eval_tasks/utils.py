"""process_results for r1_capitals.yaml: the last line of the reply, case-insensitive, names the capital."""


def process_results(doc: dict, results: list[str]) -> dict[str, int]:
    lines = [line.strip().rstrip(".") for line in results[0].strip().splitlines() if line.strip()]
    return {"acc": int(bool(lines) and lines[-1].lower() == doc["capital"].lower())}
