from pximse.cli import main

main()
