"""Polysomnography (PSG) input: event files of sleep labs and the scoring context they carry.

- `context`: hypnogram, respiratory events and arousals as the scoring uses them;
- `remlogic`: the RemLogic "Event Export" text format;
- `edf_annotations`: EDF+ files with annotations (hypnogram, leg movements, events);
- `record`: one PSG night read from either, with what was skipped and why;
- `figure`: the hypnogram picture.
"""
