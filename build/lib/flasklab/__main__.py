from flasklab.cli import main

main()
