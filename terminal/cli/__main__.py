from terminal.cli.main import main

main()
