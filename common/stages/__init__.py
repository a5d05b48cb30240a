"""The seven stages, one module each: `main(contest, args)` runs the stage, `OPTIONS` lists its command-line
options. A contest's stage script is a few lines (`run_stage(train.main, __file__)`); to customise a stage,
copy its `main` (and `OPTIONS`, if any) into the script and edit it there.
"""
